/**
 * Named rollout fixtures for the end-to-end tests: the canary rollout `web-beta` of service `web`
 * from `stable` to `beta`, the two versions test/rollout/helpers.ts config() declares. A test says
 * only the steps it is about; the name it asserts on is WEB_BETA.
 */

/** The name of the canary rollout webBetaCanary() declares. */
export const WEB_BETA = 'web-beta';

/**
 * `rollouts:` with the canary `web-beta` (service web: stable -> beta) taking `steps`, each a YAML
 * flow item as written in a config (`setWeight: 20`, `pause: {}`, `pause: { duration: 2s }`).
 *
 * @example config({ stable, beta, state, rest: webBetaCanary(['setWeight: 20', 'pause: {}']) })
 */
export function webBetaCanary(steps: readonly string[]): string {
  return [
    'rollouts:',
    `  - name: ${WEB_BETA}`,
    '    service: web',
    '    canary: beta',
    '    strategy:',
    '      canary:',
    '        steps:',
    ...steps.map((step) => `          - ${step}`),
    '',
  ].join('\n');
}

/**
 * `rollouts:` and `analysisTemplates:`: web-beta sends 50% to the canary, then pauses, while
 * background builtin analysis `canary-errors` checks the canary's error rate over 1m every 100ms
 * and aborts on its first failure (5% or more; fewer than `minRequests` requests is inconclusive).
 */
export function webBetaErrorRateAbort(minRequests: number): string {
  return (
    webBetaCanary(['setWeight: 50', 'pause: {}']) +
    `        analysis: { templates: [canary-errors] }
analysisTemplates:
  canary-errors:
    interval: 100ms
    failureLimit: 0
    inconclusiveLimit: 1000
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 1m, minRequests: ${minRequests} } }
`
  );
}
