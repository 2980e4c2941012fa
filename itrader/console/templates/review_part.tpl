% if not queue:
<p class="muted" id="queue-empty">Nothing waits for review.</p>
% else:
<table id="queue"><tr><th>Deal</th><th>State</th><th>Payout</th><th>RUB</th><th>Reason</th><th>Since</th></tr>
% for d in queue:
<tr><td><a href="/deals/{{d['id']}}">{{d['id']}}</a></td><td>{{d.get('state') or ''}}</td><td>{{d.get('payout_id') or ''}}</td>
<td>{{d.get('amount_rub') or ''}}</td><td>{{d.get('reason') or ''}}</td><td>{{(d.get('updated_at') or '')[:19]}}</td></tr>
% end
</table>
% end
