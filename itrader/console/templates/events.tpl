% rebase('base', title=title, csrf=csrf)
<main>
<table id="events"><thead><tr><th>#</th><th>Time</th><th>Type</th><th>Detail</th></tr></thead><tbody></tbody></table>
</main>
