// The registry: adding a provider means adding its folder and one line here.
import type { ProviderName } from '../model.js';
import { cloudwatch } from './cloudwatch/index.js';
import { datadog } from './datadog/index.js';
import { elastic } from './elastic/index.js';
import type { Provider } from './provider.js';
import { splunk } from './splunk/index.js';
import { webhook } from './webhook/index.js';

const providers: Record<ProviderName, Provider> = { splunk, datadog, cloudwatch, elastic, webhook };

export function providerFor(name: ProviderName): Provider {
  return providers[name];
}
