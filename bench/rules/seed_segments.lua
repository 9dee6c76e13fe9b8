-- The reference pack (guest-rules/seed-segments) as a Lua function.
-- `p` is a table built from the host's profile (absent times are nil),
-- `campaign.rec_blocks` is the set of recommendation block ids, `now` is
-- the campaign time in seconds.

local DAY = 86400

local function within(t, now, days)
  return t ~= nil and t <= now and t >= now - days * DAY
end

local function engaged(p, now, days)
  return within(p.last_open_at, now, days) or within(p.last_click_at, now, days)
end

local function recommendation(p, campaign)
  for _, category in ipairs(p.order_categories) do
    local block = "rec-" .. category
    if campaign.rec_blocks[block] then return block, "rec:" .. category .. "<-orders" end
  end
  for _, category in ipairs(p.viewed_categories) do
    local block = "rec-" .. category
    if campaign.rec_blocks[block] then return block, "rec:" .. category .. "<-viewed" end
  end
  return "rec-bestsellers", "rec:bestsellers<-default"
end

local function has_viewed(p, wanted)
  for _, category in ipairs(p.viewed_categories) do
    if category == wanted then return true end
  end
  return false
end

return function(p, campaign, now)
  local last_order_at = p.last_order_at
  local inactive = not engaged(p, now, 60) and not within(p.subscribed_at, now, 60)
  local dormant = inactive and not within(p.last_visit_at, now, 60)
    and not within(last_order_at, now, 60)
  local ordered_within_30 = within(last_order_at, now, 30)

  local cart = p.cart
  local cart_abandoner = cart ~= nil and #cart.items > 0 and within(cart.updated_at, now, 1)
    and (last_order_at == nil or last_order_at < cart.updated_at)
  local browser_at_risk = false
  if not ordered_within_30 then
    for _, product in ipairs(p.viewed_products) do
      if product.price_cents >= 10000 and within(product.viewed_at, now, 30) then
        browser_at_risk = true
        break
      end
    end
  end
  local bargain_hunter = not ordered_within_30 and within(p.last_open_at, now, 30)
    and (has_viewed(p, "sale") or has_viewed(p, "clearance"))
  local new_subscriber = within(p.subscribed_at, now, 30) and p.orders_count == 0
  local recent_buyer = within(last_order_at, now, 7)
  local high_value_loyal = p.total_spent_cents > 50000 and p.orders_90d >= 2
    and engaged(p, now, 90)

  local segments = {}
  local function add(member, id) if member then segments[#segments + 1] = id end end
  add(new_subscriber, "new-subscriber")
  add(recent_buyer, "recent-buyer")
  add(p.orders_count >= 2, "repeat-buyer")
  add(p.orders_count >= 1 and not within(last_order_at, now, 180), "lapsed-customer")
  add(high_value_loyal, "high-value-loyal")
  add(engaged(p, now, 30), "active")
  add(inactive, "inactive")
  add(dormant, "dormant")
  add(cart_abandoner, "cart-abandoner")
  add(browser_at_risk, "browser-at-risk")
  add(bargain_hunter, "bargain-hunter")

  local never_engaged = p.last_open_at == nil and p.last_click_at == nil
  if dormant and never_engaged and not within(p.subscribed_at, now, 365) then
    return { segments = segments, subject = "", preheader = "", blocks = {},
             suppress = "sunset", reasons = { "sunset:dormant-never-engaged" } }
  end

  local variant, because
  if cart_abandoner then variant, because = "cart-reminder", "cart-abandoner"
  elseif new_subscriber then variant, because = "welcome", "new-subscriber"
  elseif high_value_loyal then variant, because = "vip", "high-value-loyal"
  elseif recent_buyer then variant, because = "thank-you", "recent-buyer"
  elseif browser_at_risk then variant, because = "browse-reminder", "browser-at-risk"
  elseif bargain_hunter then variant, because = "sale", "bargain-hunter"
  elseif dormant then variant, because = "we-miss-you", "dormant"
  elseif inactive then variant, because = "we-miss-you", "inactive"
  else variant, because = "default", "no-segment-variant" end

  local block, source = recommendation(p, campaign)
  return {
    segments = segments, subject = variant, preheader = variant,
    blocks = { { "hero", "hero-" .. variant }, { "recommendations", block } },
    reasons = { "variant:" .. variant .. "<-" .. because, source },
  }
end
