export { destinationWorkflow } from './destination.js';
export { exportWorkflow } from './export.js';
export { retentionWorkflow } from './retention.js';
