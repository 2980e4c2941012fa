% if info.get('notice'):
<p class="notice">{{info['notice']}}</p>
% end
<p class="muted">{{info.get('profile', '')}} profile, {{info.get('mode', '')}} mode, up {{info.get('uptime_seconds', '')}} s, version {{info.get('version', '')}}</p>
% intake = info.get('intake') or {}
<p>Intake <strong id="intake-state" data-state="{{intake.get('state', '')}}">{{intake.get('state', 'unknown')}}</strong>
% if intake.get('paused'):
 <span class="muted">since {{intake.get('since') or '—'}} by {{intake.get('by') or '—'}}{{(': ' + intake['reason']) if intake.get('reason') else ''}}</span>
% end
 <span class="muted">(paused: no new payout is taken; live deals go on)</span></p>
<section>
<h2>Today (since {{today['since'] or '00:00'}} UTC)</h2>
<dl class="totals">
  <dt>Completed</dt><dd id="completed-today">{{today['completed']}}</dd>
  <dt>RUB paid out</dt><dd id="rub-today">{{today['rub']}}</dd>
  <dt>USDT sold</dt><dd id="usdt-today">{{today['usdt']}}</dd>
  <dt>Spread earned, USDT</dt><dd id="earned-today" title="Gate's credit for the payouts less the USDT released on Bybit">{{today['earned']}}</dd>
</dl>
% if today['unknown']:
<p class="muted">{{today['unknown']}}</p>
% end
</section>
<section>
<h2>Live deals</h2>
% if not live:
<p class="muted">No live deals.</p>
% else:
<table id="live-deals">
<tr><th>Deal</th><th>Payout</th><th>State</th><th>Age</th><th>Waits for</th><th>Account</th><th>RUB</th></tr>
% for d in live:
<tr data-deal="{{d['id']}}"><td><a href="/deals/{{d['id']}}">{{d['id']}}</a></td><td>{{d.get('payout_id') or ''}}</td>
<td class="state" data-state="{{d.get('state') or ''}}">{{d.get('state') or ''}}</td><td>{{d['age']}}</td>
<td>{{d['waits_for']}}</td><td>{{d['account']}}</td><td>{{d.get('amount_rub') or ''}}</td></tr>
% end
</table>
% end
</section>
<section>
<h2>Accounts</h2>
<table id="accounts">
<tr><th>Kind</th><th>Name</th><th>Health</th><th>Lease</th><th>Ads online</th><th>Gate balance</th>
<th>USDT available</th><th>Rate budget in use</th><th>Also known</th></tr>
% for a in accounts:
<tr data-account="{{a['kind']}}:{{a['name']}}"><td>{{a['kind']}}</td><td>{{a['name']}}</td>
<td class="health-{{a['health']}}">{{a['health']}}</td><td>{{a['lease']}}</td><td>{{a['ads']}}</td>
<td class="balance"><span class="figure">{{a['balance']}}</span> <span class="muted">{{a['balance_note']}}</span></td>
<td class="usdt"><span class="figure">{{a['usdt']}}</span> <span class="muted">{{a['usdt_note']}}</span></td>
<td class="budget"><span class="figure">{{a['budget']}}</span> <span class="muted">{{a['budget_note']}}</span></td>
<td class="muted">{{a['other']}}</td></tr>
% end
</table>
</section>
