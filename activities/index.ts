export { buildImage, lookupImage, publishRelease, pushImage } from './images';
export { prepareHost } from './hosts';
export { checkHealth, pullImages, startContainer } from './containers';
