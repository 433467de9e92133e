/** `ms` ±10 %, so a fleet's timers do not fire in step. */
export function jittered(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}
