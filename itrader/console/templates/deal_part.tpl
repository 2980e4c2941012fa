<p>State <strong id="deal-state" data-state="{{deal.get('state') or ''}}">{{deal.get('state') or ''}}</strong>
 · waits for {{waits}} · Bybit {{deal.get('bybit_account') or '—'}} · Gate {{deal.get('gate_account') or '—'}}
% if deal.get('reason'):
 · <span class="muted">{{deal['reason']}}</span>
% end
</p>
<section class="receipt">
<h2>Receipt and the payout's terms</h2>
<div class="side-by-side">
<div>
% if has_receipt:
<img id="receipt-image" src="/deals/{{deal['id']}}/receipt.png" alt="the receipt of deal {{deal['id']}}">
% else:
<p class="muted" id="no-receipt">No receipt yet.</p>
% end
</div>
<div>
<table id="terms">
% for name, value in terms:
<tr><th>{{name}}</th><td>{{value}}</td></tr>
% end
</table>
% if checks:
<table id="checks">
<tr><th>Check</th><th>Verdict</th><th></th></tr>
% for c in checks:
<tr><td title="{{c['what']}}">{{c['check']}}</td><td class="verdict-{{c['verdict']}}">{{c['verdict']}}</td><td class="muted">{{c['codes']}}</td></tr>
% end
</table>
% end
</div>
</div>
</section>
<section>
<h2>Money steps</h2>
% if not steps:
<p class="muted">None yet.</p>
% else:
<table id="money-steps"><tr><th>Step</th><th>Called</th><th>Outcome</th></tr>
% for s in steps:
<tr><td>{{s['step']}}</td><td>{{s['called']}}</td><td>{{s['outcome']}}</td></tr>
% end
</table>
% end
</section>
<section>
<h2>Chat</h2>
% if not chat:
<p class="muted">No chat stored.</p>
% else:
<ol id="chat">
% for line in chat:
<li class="from-{{line['who']}}"><span class="muted">{{line['ts']}} {{line['who']}}:</span> <span class="text">{{line['text']}}</span></li>
% end
</ol>
% end
</section>
<section>
<h2>Timeline</h2>
<table id="timeline"><tr><th>#</th><th>Time</th><th>Kind</th><th>Step</th><th>State</th><th>Detail</th></tr>
% for e in timeline:
<tr><td>{{e['seq']}}</td><td>{{e['ts']}}</td><td>{{e['kind']}}</td><td>{{e['step']}}</td><td>{{e['state']}}</td><td>{{e['detail']}}</td></tr>
% end
</table>
</section>
