% rebase('base', title=title, csrf=csrf)
% include('notice', notice=notice)
<!-- Outside the live part, so a typed reason survives a refresh; the state itself is shown live below. -->
<form method="post" action="/intake/pause" id="intake-switch" class="switch">
<input type="hidden" name="csrf" value="{{csrf}}">
<label>Reason <input type="text" name="reason" id="pause-reason" maxlength="200" size="30"></label>
<button type="submit" id="pause">Pause intake</button>
<button type="submit" id="resume" formaction="/intake/resume">Resume intake</button>
</form>
<main id="live" data-live="1">
% include(part)
</main>
