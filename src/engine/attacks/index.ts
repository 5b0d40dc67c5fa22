/** Method names (as the API spells them) to attack instances. */
import type { AttackMethod } from '../types';
import type { IterativeAttack } from './base';
import { Fgsm } from './fgsm';
import { Ifgsm } from './ifgsm';
import { MiFgsm } from './mi-fgsm';
import { Mng } from './mng';

export interface MethodOptions {
  alpha?: number;
  mu?: number;
}

export function createAttack(method: AttackMethod, options: MethodOptions = {}): IterativeAttack {
  switch (method) {
    case 'fgsm':
      return new Fgsm();
    case 'ifgsm':
      return new Ifgsm(options.alpha === undefined ? {} : { alpha: options.alpha });
    case 'mng-l1':
      return new Mng('l1');
    case 'mng-l2':
      return new Mng('l2');
    case 'mi-fgsm':
      return new MiFgsm({
        ...(options.mu === undefined ? {} : { mu: options.mu }),
        ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
      });
  }
}
