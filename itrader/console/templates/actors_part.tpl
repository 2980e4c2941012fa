<table id="actors"><tr><th>Actor</th><th>Kind</th><th>State</th><th>Restarts</th><th>Last failure</th></tr>
% for a in rows:
<tr><td class="indent-{{a['indent']}}">{{a['id']}}</td><td>{{a['kind']}}</td><td>{{a['state']}}</td><td>{{a['restarts']}}</td><td>{{a['last_failure']}}</td></tr>
% end
</table>
