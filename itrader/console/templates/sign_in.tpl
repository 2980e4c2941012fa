<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iTrader · {{title}}</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body class="sign-in">
<form method="post" action="/sign-in">
  <h1>iTrader console</h1>
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label>API token <input type="password" name="token" id="token" autocomplete="current-password" autofocus required></label>
  <button type="submit" id="sign-in">Sign in</button>
  % if error:
  <p class="error" id="error">{{error}}</p>
  % end
</form>
</body>
</html>
