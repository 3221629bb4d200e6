// `purchase.checkout.block.render`: the points block on the checkout (the code is applied to this order).
import '@shopify/ui-extensions/preact';

import {renderPointsBlock} from './PointsBlock.jsx';

export default async () => {
  renderPointsBlock('purchase.checkout.block.render');
};
