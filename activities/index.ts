export { buildImage, pushImage } from './images';
export { prepareHost } from './hosts';
export { startContainer, checkHealth } from './containers';
