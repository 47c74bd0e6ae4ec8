export { destinationWorkflow } from './destination.js';
