// Each provider declares its own contract; the proto and the API follow from those
// declarations. These checks fail when a provider declares a field the API cannot carry.
import { ScalarType, create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { describeProviders } from '../../src/api/destinations.js';
import { parseNewDestination } from '../../src/api/validate.js';
import { CreateDestinationRequestSchema, ProviderSettingsSchema, UpdateDestinationRequestSchema } from '../../src/gen/auditstream/v1/destinations_pb.js';
import { allProviders } from '../../src/providers/index.js';
import { apiName, credentialsOf } from '../../src/providers/provider.js';

const fieldOf = (schema: typeof ProviderSettingsSchema | typeof CreateDestinationRequestSchema | typeof UpdateDestinationRequestSchema, name: string) =>
  schema.fields.find((field) => field.name === name);

describe('provider declarations', () => {
  it.each(allProviders().map((provider) => [provider.name, provider] as const))('%s: every setting and credential it declares is a field of the API', (_, provider) => {
    for (const [name, spec] of Object.entries(provider.settings)) {
      const field = fieldOf(ProviderSettingsSchema, apiName(name));
      expect(field, `settings.${apiName(name)}`).toBeDefined();
      expect(field!.fieldKind === 'scalar' && field!.scalar).toBe(spec.kind === 'flag' ? ScalarType.BOOL : ScalarType.STRING);
    }
    for (const credential of credentialsOf(provider)) {
      for (const schema of [CreateDestinationRequestSchema, UpdateDestinationRequestSchema]) {
        const field = fieldOf(schema, apiName(credential));
        expect(field?.fieldKind === 'scalar' && field.scalar, `${schema.typeName}.${apiName(credential)}`).toBe(ScalarType.STRING);
      }
    }
    expect(provider.setup.length).toBeGreaterThan(0);
  });

  it('are what ListProviders answers, and what a create is validated against', () => {
    const listed = describeProviders().providers;
    expect(listed.map((provider) => provider.name)).toEqual(['splunk', 'datadog', 'cloudwatch', 'elastic', 'webhook']);
    const cloudwatch = listed.find((provider) => provider.name === 'cloudwatch')!;
    expect(cloudwatch.credentials.map((field) => [field.name, field.kind, field.required])).toEqual([
      ['access_key_id', 'secret', true],
      ['secret_access_key', 'secret', true],
    ]);
    expect(cloudwatch.settings.filter((field) => field.required).map((field) => field.name)).toEqual(['region', 'log_group', 'log_stream']);
    // A create that gives exactly what ListProviders asks for is valid; one without a required field is not.
    const request = create(CreateDestinationRequestSchema, {
      provider: 'cloudwatch',
      endpoint: 'https://logs.eu-west-1.amazonaws.com',
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 'secret',
      settings: { region: 'eu-west-1', logGroup: '/audit', logStream: 'tenant' },
    });
    expect(parseNewDestination(request, false).settings).toEqual({ region: 'eu-west-1', logGroup: '/audit', logStream: 'tenant' });
    request.settings!.logStream = '';
    expect(() => parseNewDestination(request, false)).toThrow('cloudwatch destinations need settings.log_stream (log stream, created when missing)');
  });

  it('refuses a setting the provider does not take, naming those it does', () => {
    const request = create(CreateDestinationRequestSchema, { provider: 'webhook', endpoint: 'https://example.com/hook', secret: 's', settings: { index: 'main' } });
    expect(() => parseNewDestination(request, false)).toThrow('settings.index does not apply to webhook destinations (they take no settings)');
  });
});
