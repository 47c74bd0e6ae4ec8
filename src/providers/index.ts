// The registry: adding a provider means adding its folder and one line here.
import type { ProviderName } from '../model.js';
import type { Provider } from './provider.js';
import { webhook } from './webhook/index.js';

const providers: Partial<Record<ProviderName, Provider>> = { webhook };

export function providerFor(name: ProviderName): Provider | undefined {
  return providers[name];
}

export function availableProviders(): ProviderName[] {
  return Object.keys(providers) as ProviderName[];
}
