% rebase('base', title=title, csrf=csrf)
<main id="live" data-deal-id="{{deal['id']}}">
% include(part)
</main>
