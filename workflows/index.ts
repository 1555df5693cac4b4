export { deployPipeline } from './pipeline';
