% if notice:
<p id="notice" class="notice {{'ok' if notice['ok'] else 'refused'}}" role="status">{{notice['text']}}</p>
% end
