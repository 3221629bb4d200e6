// `customer-account.profile.block.render`: the shopper's points and tier on
// the profile page, with a link to the Rewards page (`rewards-page`).
import '@shopify/ui-extensions/preact';

import {renderPointsBlock} from './PointsBlock.jsx';

export default async () => {
  renderPointsBlock('customer-account.profile.block.render');
};
