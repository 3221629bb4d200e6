// `purchase.thank-you.block.render`: the points block on the thank-you page (the code is for the next order).
import '@shopify/ui-extensions/preact';

import {renderPointsBlock} from './PointsBlock.jsx';

export default async () => {
  renderPointsBlock('purchase.thank-you.block.render');
};
