% rebase('base', title=title, csrf=csrf)
<main id="live" data-live="1">
% include(part)
</main>
