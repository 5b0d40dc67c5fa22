import t from 'tap';
import { parseMethod, parseMethodList } from '../../src/eval/methods';

t.test('method specs map to AttackParams', async (t) => {
  t.same(parseMethod('fgsm'), { name: 'fgsm', params: { method: 'fgsm' } });
  t.same(parseMethod('mi-fgsm+di+ti'), { name: 'mi-fgsm+di+ti', params: { method: 'mi-fgsm', di: true, ti: 7 } });
  t.same(parseMethod(' ifgsm + ti15 '), { name: 'ifgsm+ti15', params: { method: 'ifgsm', ti: 15 } });
  t.same(parseMethod('mng-l1+di'), { name: 'mng-l1+di', params: { method: 'mng-l1', di: true } });
  t.same(parseMethod('mi-fgsm+di+ti+logit+alpha2'), {
    name: 'mi-fgsm+di+ti+logit+alpha2',
    params: { method: 'mi-fgsm', di: true, ti: 7, loss: 'logit', alpha: 2 },
  });
  t.same(parseMethod('ifgsm+alpha0.5').params, { method: 'ifgsm', alpha: 0.5 });
  t.same(parseMethod('si-fgsm+scales3+mu0.5').params, { method: 'si-fgsm', scales: 3, mu: 0.5 }, 'method options from the registry');
  t.same(parseMethod('vmi-fgsm+samples10+beta2+di').params, { method: 'vmi-fgsm', samples: 10, beta: 2, di: true });
  t.same(parseMethod('pgd+margin+kappa5+ti15').params, { method: 'pgd', loss: 'margin', kappa: 5, ti: 15 });
  t.same(parseMethod('ifgsm+ti0').params, { method: 'ifgsm', ti: 0 }, '+ti0: off');
  t.same(parseMethod('none'), { name: 'none', params: null }, 'none: the clean images');
  t.same(parseMethodList('fgsm,,fgsm, mng-l2').map((m) => m.name), ['fgsm', 'mng-l2']);
  for (const bad of ['cw', 'fgsm+mu0.5', 'mi-fgsm+scales3', 'si-fgsm+scales0', 'vmi-fgsm+beta', 'fgsm+margin+logit', 'fgsm+xx', 'fgsm+di+di', 'fgsm+ti+ti9', 'fgsm+ti4', 'fgsm+ti33', 'none+di', 'fgsm+logit+logit', 'fgsm+alpha0', 'fgsm+alpha65', '']) {
    t.throws(() => parseMethodList(bad), { name: 'EvalUsageError' }, `"${bad}" is refused`);
  }
});
