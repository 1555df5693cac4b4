export { deployPipeline } from './pipeline';
export { pipelineStep } from './activity-calls';
