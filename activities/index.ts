import type { ActivityFunctions } from '../model/activity-types';
import { buildImage, lookupImage, lookupImages, publishRelease, pushImage } from './images';
import { prepareHost } from './hosts';
import { checkHealth, checkQuorum, discardPrevious, pullImages, restorePrevious, startContainer, surveyHost } from './containers';
import { removeOrphans } from './orphans';

// Named exports only: workers register `* as activities`, and workflows type their proxies from this module.
export { buildImage, lookupImage, lookupImages, publishRelease, pushImage, prepareHost, pullImages, surveyHost, startContainer, checkHealth, checkQuorum, restorePrevious, discardPrevious, removeOrphans };

// Checked by the compiler (the module's shape is left alone): exactly the activities of ActivityFunctions, none
// missing, none extra, with its signatures.
void ({ buildImage, lookupImage, lookupImages, pushImage, publishRelease, prepareHost, pullImages, surveyHost, startContainer, checkHealth, checkQuorum, restorePrevious, discardPrevious, removeOrphans } satisfies ActivityFunctions);
