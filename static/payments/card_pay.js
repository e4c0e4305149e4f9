/* The invoice pay page's card form: Stripe's Payment Element, saved cards, 3-D Secure.
 *
 * Flow (Stripe, "Collect payment details before creating an Intent",
 * docs.stripe.com/payments/accept-a-payment-deferred): the Payment Element is mounted in deferred
 * mode (amount and currency of the invoice); on Pay, `elements.submit()` validates the card, our
 * payments API creates the PaymentIntent (`POST /api/payments/process`, flow "stripe", with the
 * customer's "save this card" choice, which the elements' `setupFutureUsage` must match), and
 * `stripe.confirmPayment({elements, clientSecret, confirmParams: {return_url}, redirect: "if_required"})`
 * confirms it, showing the bank's 3-D Secure challenge when asked for. A saved card is charged by our
 * server (flow "saved_method"); when the bank wants 3-D Secure the answer carries the client secret and
 * `stripe.handleNextAction` shows the challenge (docs.stripe.com/js/payment_intents/handle_next_action).
 *
 * Nothing here moves money or decides an outcome: the result page shows what Stripe's signed webhook
 * recorded. Card details are typed into Stripe's iframe and never pass through this page.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("card-pay-config").textContent);
  var form = document.getElementById("card-form");
  var button = document.getElementById("card-submit");
  var errorBox = document.getElementById("card-error");
  var saveBox = document.getElementById("save-card");
  var loading = document.getElementById("card-loading");
  var savedButtons = Array.prototype.slice.call(document.querySelectorAll("[data-saved-card]"));
  var busy = false;
  var declined = false;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setBusy(on, which) {
    busy = on;
    [button].concat(savedButtons).forEach(function (b) {
      b.disabled = on;
      b.textContent = on && b === which ? "Processing\u2026" : b.dataset.label;
    });
    if (on) { errorBox.hidden = true; errorBox.textContent = ""; }
  }

  function formatRands(amount) {  // "1798.5" or "1798.50" -> "R 1,798.50" (as the server's zar filter)
    var parts = String(amount).split(".");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return "R " + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + cents;
  }

  function amountChanged(amount) {
    // The invoice's amount due changed since the page loaded (another payment, a credit note). Show the
    // new amount and let the customer press Pay again: nothing was charged.
    var parts = String(amount).split(".");
    config.amount = amount;
    config.amount_cents = parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
    elements.update({amount: config.amount_cents});
    var label = "Pay " + formatRands(amount);
    button.dataset.label = label;
    savedButtons.forEach(function (b) { b.dataset.label = b.dataset.label.replace(/^Pay R [0-9,.]+/, label); });
    var shown = document.querySelector("[data-testid=pay-amount]");
    if (shown) { shown.textContent = formatRands(amount); }
    showError("The amount due is now " + formatRands(amount) + ". Check it and press Pay again.");
  }

  function failed(error) {
    if (error.amountDue) { return amountChanged(error.amountDue); }
    (error.removed || []).forEach(function (id) {  // no longer offered: take their buttons off the page
      savedButtons = savedButtons.filter(function (b) {
        if (Number(b.dataset.savedCard) !== Number(id)) { return true; }
        b.parentNode.parentNode.removeChild(b.parentNode);
        return false;
      });
    });
    showError(error.message);
  }

  function stripeError(error) {
    // Stripe's words for the card (declined, incomplete...); our words when the attempt itself was stopped
    // (`payment_intent_unexpected_state`: cancelled because the invoice changed or was paid elsewhere).
    var intent = error.payment_intent || {};
    if (error.code === "payment_intent_unexpected_state" || intent.status === "canceled") {
      return new Error("This payment attempt was stopped and nothing was charged (the invoice may have " +
                       "changed, or it is being paid in another window). Reload the page to see what is due.");
    }
    return new Error(error.message);
  }

  function showError(message) {
    errorBox.textContent = message || "The payment did not go through. No money was taken; please try again.";
    errorBox.hidden = false;
    setBusy(false);
  }

  function idempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) { return "card-pay-" + window.crypto.randomUUID(); }
    return "card-pay-" + Date.now() + "-" + Math.random().toString(16).slice(2); // not money
  }

  function startPayment(body) {
    return fetch(config.process_url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken(),
                "Idempotency-Key": idempotencyKey()},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || "The payment could not be started. Please try again in a moment.");
          error.amountDue = data.extra && data.extra.amount_due;  // 409: the invoice now owes another amount
          error.removed = (data.extra && data.extra.removed) || [];  // saved cards that are gone
          throw error;
        }
        return data;
      });
    });
  }

  function finish(data) { window.location.assign(data.return_url); }

  if (typeof window.Stripe !== "function") {
    if (loading) { loading.textContent = "The card form could not be loaded. Refresh the page, or pay at NetCash below."; }
    savedButtons.forEach(function (b) { b.disabled = true; });
    return;
  }
  var stripe = window.Stripe(config.publishable_key);
  var elements = stripe.elements({mode: "payment", amount: config.amount_cents, currency: config.currency});
  var paymentElement = elements.create("payment");
  paymentElement.on("ready", function () {
    if (loading && loading.parentNode) { loading.parentNode.removeChild(loading); }
    button.disabled = false;
  });
  paymentElement.mount("#payment-element");
  if (saveBox) {
    saveBox.addEventListener("change", function () {
      elements.update({setupFutureUsage: saveBox.checked ? "off_session" : null});
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    setBusy(true, button);
    elements.submit().then(function (submitted) {
      if (submitted.error) { throw new Error(submitted.error.message); }
      return startPayment({invoice_id: config.invoice_id, flow: "stripe", save_card: !!(saveBox && saveBox.checked),
                           new_attempt: declined});
    }).then(function (data) {
      if (data.amount_cents !== config.amount_cents) { return amountChanged(data.payment.amount); }
      return stripe.confirmPayment({elements: elements, clientSecret: data.client_secret,
                                    confirmParams: {return_url: data.return_url}, redirect: "if_required"})
        .then(function (result) {
          if (result.error) {
            // Declined (or stopped): the next Pay is a new attempt, so a late decline event for this one
            // can never mark the next one failed.
            declined = true;
            throw stripeError(result.error);
          }
          finish(data);
        });
    }).catch(failed);
  });

  savedButtons.forEach(function (savedButton) {
    savedButton.addEventListener("click", function () {
      if (busy) { return; }
      setBusy(true, savedButton);
      startPayment({invoice_id: config.invoice_id, flow: "saved_method", expected_amount: config.amount,
                    payment_method_id: Number(savedButton.dataset.savedCard)})
        .then(function (data) {
          if (data.next_action !== "authenticate") { return finish(data); }
          return stripe.handleNextAction({clientSecret: data.client_secret}).then(function (result) {
            if (result.error) { throw stripeError(result.error); }
            finish(data);
          });
        }).catch(failed);
    });
  });
})();
