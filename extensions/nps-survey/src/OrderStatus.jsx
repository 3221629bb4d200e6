// `customer-account.order-status.block.render`: the survey on the order-status page (until answered).
import '@shopify/ui-extensions/preact';

import {renderSurvey} from './Survey.jsx';

export default async () => {
  renderSurvey('customer-account.order-status.block.render');
};
