<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iTrader · {{title}}</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header>
  <strong>iTrader</strong>
  <nav>
    <a href="/">Overview</a> <a href="/review">Review queue</a> <a href="/actors">Actors</a> <a href="/events">Events</a>
  </nav>
  <span id="live-status" class="muted">connecting…</span>
  <form method="post" action="/sign-out" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit">Sign out</button>
  </form>
</header>
<h1>{{title}}</h1>
{{!base}}
</body>
</html>
