export { buildImage, lookupImage, lookupImages, publishRelease, pushImage } from './images';
export { prepareHost } from './hosts';
export { checkHealth, checkQuorum, pullImages, startContainer, surveyHost } from './containers';
