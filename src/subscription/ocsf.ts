// An audit event as an OCSF 1.3.0 API Activity event (class 6003), for destinations whose
// format is `ocsf` — what AWS Security Lake, Splunk and Datadog ingest as the Open Cybersecurity
// Schema Framework. The activity comes from the action's verb (its last segment: `doc.create` is
// Create), the status from the outcome; what OCSF has no place for is kept under `unmapped`.
// The suite validates what each provider sends against the schema (test/support/ocsf.ts).
import { isIP } from 'node:net';
import type { AuditEvent } from '../model.js';

export const ocsfVersion = '1.3.0';
export const destinationFormats = ['auditstream', 'ocsf'] as const;
export type DestinationFormat = (typeof destinationFormats)[number];

const apiActivity = { classUid: 6003, categoryUid: 6 } as const;

const activities: [id: number, name: string, verbs: RegExp][] = [
  [1, 'Create', /^(create|created|add|added|insert|inserted|register|registered|invite|invited|upload|uploaded)$/],
  [2, 'Read', /^(read|get|list|view|viewed|export|exported|download|downloaded|search|searched|query|queried|login|logout|access|accessed)$/],
  [3, 'Update', /^(update|updated|change|changed|edit|edited|set|rotate|rotated|enable|enabled|disable|disabled|modify|modified|grant|granted|assign|assigned)$/],
  [4, 'Delete', /^(delete|deleted|remove|removed|revoke|revoked|destroy|destroyed|purge|purged)$/],
];

/** The OCSF activity of an action, from its last dotted segment (and the last word of that). */
export function activityOf(action: string): { id: number; name: string } {
  const verb = (action.split('.').pop() ?? '').split(/[_-]/).pop()!.toLowerCase();
  for (const [id, name, verbs] of activities) if (verbs.test(verb)) return { id, name };
  return { id: 99, name: 'Other' };
}

const statuses = { success: [1, 'Success'], failure: [2, 'Failure'], unknown: [0, 'Unknown'] } as const;

/** Set only where there is a value: OCSF objects refuse empty members. */
function present<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== '')) as Partial<T>;
}

export function toOcsfApiActivity(event: AuditEvent & { seq?: number }, tenantId: string): Record<string, unknown> {
  const activity = activityOf(event.action);
  const [statusId, status] = statuses[event.outcome];
  const actor = event.actor ?? {};
  const ip = actor.ip && isIP(actor.ip) ? actor.ip : undefined;
  const user = present({ uid: actor.id, name: actor.name });
  const resource = present({ uid: event.resource?.id, name: event.resource?.name, type: event.resource?.type });
  const unmapped = present({
    outcome: event.outcome,
    actor_type: actor.type,
    // An address that is not one (a masked IP's token) cannot be src_endpoint.ip.
    actor_ip: actor.ip !== undefined && ip === undefined ? actor.ip : undefined,
    metadata: event.metadata,
    replay: event.replayOf ? { backfill_id: event.replayOf } : undefined,
    stream: event.stream ? { destination_id: event.stream.destinationId, sequence: event.stream.sequence } : undefined,
  });
  return {
    class_uid: apiActivity.classUid,
    class_name: 'API Activity',
    category_uid: apiActivity.categoryUid,
    category_name: 'Application Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: apiActivity.classUid * 100 + activity.id,
    type_name: `API Activity: ${activity.name}`,
    time: event.occurredAt.getTime(),
    severity_id: 1,
    severity: 'Informational',
    status_id: statusId,
    status,
    actor: user.uid !== undefined || user.name !== undefined ? { user: { ...user, type_id: actor.type === 'user' ? 1 : 99, ...(actor.type ? { type: actor.type } : {}) } } : { app_name: 'unknown' },
    // OCSF requires a source endpoint; without the caller's address it is named as unknown.
    src_endpoint: ip ? { ip } : { name: 'unknown' },
    ...(actor.userAgent ? { http_request: { user_agent: actor.userAgent } } : {}),
    api: { operation: event.action, ...(event.requestId ? { request: { uid: event.requestId } } : {}) },
    ...(Object.keys(resource).length > 0 && (resource.uid !== undefined || resource.name !== undefined) ? { resources: [resource] } : {}),
    metadata: {
      product: { name: 'auditstream', vendor_name: 'auditstream' },
      version: ocsfVersion,
      uid: event.id,
      ...(event.seq !== undefined ? { sequence: event.seq } : {}),
      tenant_uid: tenantId,
      logged_time: event.receivedAt.getTime(),
      ...(event.replayOf ? { labels: ['replay'] } : {}),
    },
    ...(Object.keys(unmapped).length > 0 ? { unmapped } : {}),
  };
}
