% rebase('base', title=title, csrf=csrf)
% include('notice', notice=notice)
% if in_review:
<!-- Outside the live part: what the operator types is never swapped away by a refresh. -->
<section id="resolve">
<h2>Resolve</h2>
<form method="post" action="/deals/{{deal['id']}}/resolve" id="resolve-form" autocomplete="off">
<input type="hidden" name="csrf" value="{{csrf}}">
<label>Action <select name="action" id="resolve-action">
% for value, label in resolve_actions:
<option value="{{value}}">{{label}}</option>
% end
</select></label>
<label>Reason kind <select name="reason_kind" id="resolve-reason-kind">
% for kind in reason_kinds:
<option value="{{kind}}">{{kind}}</option>
% end
</select></label>
<label>Reason <input type="text" name="reason" id="resolve-reason" required maxlength="2000" size="50"></label>
<label>Amount, RUB, retyped from the evidence (approve and release only)
<input type="text" name="amount" id="resolve-amount" inputmode="decimal" maxlength="20" size="12" value=""></label>
<label><input type="checkbox" name="return_payout" value="1" id="resolve-return-payout"> return the payout to Gate (cancel only)</label>
<button type="submit" id="resolve-submit">Resolve</button>
</form>
</section>
% end
<main id="live" data-deal-id="{{deal['id']}}">
% include(part)
</main>
