// `purchase.thank-you.block.render`: the survey right after the purchase.
import '@shopify/ui-extensions/preact';

import {renderSurvey} from './Survey.jsx';

export default async () => {
  renderSurvey('purchase.thank-you.block.render');
};
