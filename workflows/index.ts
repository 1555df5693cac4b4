// Every workflow the deploy worker runs: the run, and its parts.
export { deployPipeline } from './pipeline';
export { buildImageTree } from './images';
export { rolloutHosts } from './hosts';
