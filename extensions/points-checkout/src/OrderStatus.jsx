// `customer-account.order-status.block.render`: the points block on the order-status page (the code is for the next order).
import '@shopify/ui-extensions/preact';

import {renderPointsBlock} from './PointsBlock.jsx';

export default async () => {
  renderPointsBlock('customer-account.order-status.block.render');
};
