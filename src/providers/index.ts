// The registry: adding a provider means adding its folder and one line here (see README,
// "Adding a provider"). Provider names, API validation and the console all follow from it.
import { cloudwatch } from './cloudwatch/index.js';
import { datadog } from './datadog/index.js';
import { elastic } from './elastic/index.js';
import type { Provider } from './provider.js';
import { splunk } from './splunk/index.js';
import { webhook } from './webhook/index.js';

const registry = { splunk, datadog, cloudwatch, elastic, webhook } satisfies Record<string, Provider>;

export type ProviderName = keyof typeof registry;
export const providerNames = Object.keys(registry) as ProviderName[];

export function isProviderName(name: string): name is ProviderName {
  return Object.hasOwn(registry, name);
}

/** Every provider, in the product page's order. */
export function allProviders(): Provider[] {
  return Object.values(registry);
}

export function providerFor(name: ProviderName): Provider {
  return registry[name];
}
