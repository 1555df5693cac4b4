export { buildImage, lookupImage, publishRelease, pushImage } from './images';
export { prepareHost } from './hosts';
export { startContainer, checkHealth } from './containers';
