/** Pure permission checks: may a consumer call a model, may it pin one of its versions. */
import type { EdgeConsumer, ModelGrant } from './consumers.ts';

/** True when the grant covers `model`. */
export function grants(g: ModelGrant, model: string): boolean {
  return g === '*' || g.has(model);
}

/** May `c` call `model`? */
export function mayCall(c: EdgeConsumer, model: string): boolean {
  return grants(c.models, model);
}

/** May `c` pin a version of `model` (it must also be allowed to call it)? */
export function mayPin(c: EdgeConsumer, model: string): boolean {
  if (!mayCall(c, model)) return false;
  return c.pin === true || (c.pin !== false && c.pin.has(model));
}
