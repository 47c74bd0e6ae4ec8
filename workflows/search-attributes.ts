// Search attributes that make a destination's workflow findable in the Temporal UI.
// The local stack registers them when it starts the dev server (see src/stack/local.ts).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const tenantAttribute = defineSearchAttributeKey('AuditTenant', SearchAttributeType.KEYWORD);
export const providerAttribute = defineSearchAttributeKey('AuditProvider', SearchAttributeType.KEYWORD);
export const statusAttribute = defineSearchAttributeKey('AuditStatus', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [tenantAttribute, providerAttribute, statusAttribute];
