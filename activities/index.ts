export { buildImage, lookupImage, publishRelease, pushImage } from './images';
export { prepareHost } from './hosts';
export { checkHealth, checkQuorum, pullImages, startContainer } from './containers';
