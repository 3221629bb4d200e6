// Sandbox stand-in for Polaris web components
// (cdn.shopify.com/shopifycloud/polaris.js): the subset the admin page uses,
// with the same tags, attributes, properties and events, drawn to look like
// Shopify admin. Only ever loaded in sandbox mode, where the page must work
// without Shopify's CDN.
(function () {
  "use strict";

  var SPACE = {
    none: "0", "small-500": "2px", "small-400": "4px", "small-300": "6px", "small-200": "8px", "small-100": "10px",
    small: "12px", base: "16px", large: "20px", "large-100": "24px", "large-200": "28px", "large-300": "32px",
  };

  var BASE_CSS = [
    "s-page,s-section,s-stack,s-grid,s-box,s-paragraph,s-banner,s-table,s-app-nav,s-divider,s-unordered-list{display:block}",
    "s-stack{display:flex;flex-direction:column}",
    "s-stack[direction=inline]{flex-direction:row;flex-wrap:wrap}",
    "s-grid{display:grid}",
    "s-box[border]{border:1px solid #e3e3e3}",
    "s-box[borderradius]{border-radius:12px}",
    "s-box[background=base]{background:#fff}",
    "s-box[background=subdued]{background:#f7f7f7}",
    "s-heading{display:block;font-weight:650;font-size:14px;line-height:20px}",
    "s-box.metric s-heading{font-size:20px;line-height:28px}",
    "s-text{font-size:13px}",
    "s-text[color=subdued],s-paragraph[color=subdued]{color:#616161}",
    "s-text[tone=critical]{color:#8e1f0b}",
    "s-text[tone=success]{color:#0c5132}",
    "s-paragraph{margin:0;font-size:13px;line-height:20px}",
    "s-link{color:#005bd3;cursor:pointer;text-decoration:none}",
    "s-link:hover{text-decoration:underline}",
    "s-badge{display:inline-block;padding:2px 8px;border-radius:8px;font-size:12px;line-height:16px;background:#e3e3e3;color:#303030;white-space:nowrap}",
    "s-badge[tone=success]{background:#cdfee1;color:#0c5132}",
    "s-badge[tone=critical]{background:#fedad9;color:#8e1f0b}",
    "s-badge[tone=warning]{background:#ffef9d;color:#4f4700}",
    "s-badge[tone=info]{background:#e0f0ff;color:#00527c}",
    "s-divider{border-top:1px solid #e3e3e3;margin:4px 0}",
    "s-table{display:table;width:100%;border-collapse:collapse;font-size:13px}",
    "s-table-header-row{display:table-row;background:#f7f7f7}",
    "s-table-header{display:table-cell;padding:8px 12px;font-weight:550;color:#616161;border-bottom:1px solid #e3e3e3;text-align:left}",
    "s-table-body{display:table-row-group}",
    "s-table-row{display:table-row}",
    "s-table-row:hover{background:#fafafa}",
    "s-table-cell{display:table-cell;padding:10px 12px;border-bottom:1px solid #ebebeb;vertical-align:middle}",
    "s-table-body s-table-row:last-child s-table-cell{border-bottom:0}",
    "s-spinner{display:inline-block;width:20px;height:20px;border:2px solid #d4d4d4;border-top-color:#303030;border-radius:50%;animation:s-spin .8s linear infinite}",
    "@keyframes s-spin{to{transform:rotate(360deg)}}",
    "s-list-item{display:list-item;margin-left:20px}",
    "s-app-nav{display:flex;gap:4px;padding:8px 16px;background:#1a1a1a;position:sticky;top:0;z-index:10}",
    "s-app-nav s-link{color:#e3e3e3;padding:6px 12px;border-radius:8px;font-weight:550;font-size:13px}",
    "s-app-nav s-link:hover{background:#303030;text-decoration:none}",
    "s-app-nav s-link[aria-current]{background:#fff;color:#1a1a1a}",
    "s-app-nav s-link[rel=home]{display:none}",
    "#sandbox-toasts{position:fixed;bottom:24px;left:50%;transform:translateX(-50%);display:flex;flex-direction:column;gap:8px;z-index:100}",
    ".sandbox-toast{background:#1a1a1a;color:#fff;padding:10px 16px;border-radius:10px;font-size:13px;box-shadow:0 4px 12px rgba(0,0,0,.2)}",
    ".sandbox-toast.error{background:#8e1f0b}",
  ].join("\n");

  var style = document.createElement("style");
  style.textContent = BASE_CSS;
  document.head.append(style);

  var FONT = "font-family:-apple-system,BlinkMacSystemFont,'San Francisco','Segoe UI',Roboto,'Helvetica Neue',sans-serif;";

  function shadow(host, css, html) {
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    root.innerHTML = "<style>:host{" + FONT + "}" + css + "</style>" + html;
    return root;
  }

  function define(tag, cls) {
    if (!customElements.get(tag)) customElements.define(tag, cls);
  }

  // Layout: attributes become styles.
  class Layout extends HTMLElement {
    static get observedAttributes() { return ["gap", "padding", "gridtemplatecolumns", "alignitems", "justifycontent"]; }
    connectedCallback() { this.apply(); }
    attributeChangedCallback() { this.apply(); }
    apply() {
      var gap = this.getAttribute("gap");
      if (gap) this.style.gap = SPACE[gap] || gap;
      var padding = this.getAttribute("padding");
      if (padding) this.style.padding = SPACE[padding] || padding;
      var columns = this.getAttribute("gridtemplatecolumns");
      if (columns) this.style.gridTemplateColumns = columns;
      var align = this.getAttribute("alignitems");
      if (align) this.style.alignItems = align === "end" ? "flex-end" : align === "start" ? "flex-start" : align;
      var justify = this.getAttribute("justifycontent");
      if (justify) this.style.justifyContent = justify;
    }
  }
  define("s-stack", class extends Layout {});
  define("s-grid", class extends Layout {});
  define("s-box", class extends Layout {});

  define("s-page", class extends HTMLElement {
    static get observedAttributes() { return ["heading"]; }
    connectedCallback() { this.draw(); }
    attributeChangedCallback() { if (this.shadowRoot) this.draw(); }
    draw() {
      var root = shadow(this,
        ":host{display:block;max-width:1000px;margin:0 auto;padding:20px 24px 48px;color:#303030}" +
        ":host([inlinesize=large]){max-width:1200px}" +
        "header{display:flex;align-items:center;gap:12px;margin-bottom:16px;min-height:32px}" +
        "h1{font-size:20px;line-height:28px;font-weight:650;margin:0;flex:1}" +
        ".actions{display:flex;gap:8px}" +
        ".content{display:flex;flex-direction:column;gap:16px}",
        "<header><slot name='breadcrumb-actions'></slot><h1></h1><div class='actions'><slot name='secondary-actions'></slot><slot name='primary-action'></slot></div></header><div class='content'><slot></slot></div>");
      root.querySelector("h1").textContent = this.getAttribute("heading") || "";
    }
  });

  define("s-section", class extends HTMLElement {
    static get observedAttributes() { return ["heading"]; }
    connectedCallback() { this.draw(); }
    attributeChangedCallback() { if (this.shadowRoot) this.draw(); }
    draw() {
      var nested = this.parentElement && this.parentElement.closest("s-section");
      var root = shadow(this,
        ":host{display:block;background:#fff;border-radius:12px;box-shadow:0 1px 0 rgba(26,26,26,.07),0 0 0 1px rgba(26,26,26,.07);padding:16px;color:#303030}" +
        ":host([data-nested]){box-shadow:none;padding:0;background:transparent}" +
        "h2{font-size:14px;line-height:20px;font-weight:650;margin:0 0 12px}" +
        ".body{display:flex;flex-direction:column;gap:12px}",
        "<h2 hidden></h2><div class='body'><slot></slot></div>");
      if (nested) this.setAttribute("data-nested", "");
      var h2 = root.querySelector("h2");
      var heading = this.getAttribute("heading");
      h2.textContent = heading || "";
      h2.hidden = !heading;
    }
  });

  define("s-banner", class extends HTMLElement {
    static get observedAttributes() { return ["heading", "tone"]; }
    connectedCallback() { this.draw(); }
    attributeChangedCallback() { if (this.shadowRoot) this.draw(); }
    draw() {
      var root = shadow(this,
        ":host{display:block;border-radius:12px;padding:12px 16px;background:#eaf4ff;border:1px solid #91d0ff;color:#303030;font-size:13px}" +
        ":host([tone=critical]){background:#fee9e8;border-color:#fd8a84}" +
        ":host([tone=warning]){background:#fff4d4;border-color:#ffd147}" +
        ":host([tone=success]){background:#e3fcec;border-color:#7ee3a8}" +
        "strong{display:block;font-weight:650;margin-bottom:4px}",
        "<div role='status'><strong hidden></strong><slot></slot></div>");
      var strong = root.querySelector("strong");
      strong.textContent = this.getAttribute("heading") || "";
      strong.hidden = !this.getAttribute("heading");
      if (this.getAttribute("tone") === "critical") root.querySelector("div").setAttribute("role", "alert");
    }
  });

  define("s-button", class extends HTMLElement {
    static get observedAttributes() { return ["disabled", "loading"]; }
    connectedCallback() {
      if (!this.shadowRoot) {
        shadow(this,
          ":host{display:inline-block}" +
          "button{font:inherit;font-size:13px;font-weight:550;line-height:20px;padding:6px 12px;border-radius:8px;border:0;cursor:pointer;" +
          "background:#fff;color:#303030;box-shadow:inset 0 -1px 0 #b5b5b5,0 0 0 1px #e3e3e3}" +
          "button:hover{background:#f7f7f7}" +
          ":host([variant=primary]) button{background:#303030;color:#fff;box-shadow:inset 0 -1px 0 #000}" +
          ":host([variant=primary]) button:hover{background:#1a1a1a}" +
          ":host([tone=critical]) button{color:#8e1f0b}" +
          ":host([tone=critical][variant=primary]) button{background:#c70a24;color:#fff}" +
          ":host([variant=tertiary]) button{background:transparent;box-shadow:none}" +
          "button:disabled{opacity:.5;cursor:default}" +
          ":host([loading]) button{opacity:.6;cursor:progress}",
          "<button type='button' part='button'><slot></slot></button>");
      }
      this.sync();
    }
    attributeChangedCallback() { this.sync(); }
    sync() {
      var b = this.shadowRoot && this.shadowRoot.querySelector("button");
      if (b) b.disabled = this.hasAttribute("disabled") || this.hasAttribute("loading");
    }
    get disabled() { return this.hasAttribute("disabled"); }
    set disabled(v) { this.toggleAttribute("disabled", Boolean(v)); }
    get loading() { return this.hasAttribute("loading"); }
    set loading(v) { this.toggleAttribute("loading", Boolean(v)); }
  });

  var FIELD_CSS =
    ":host{display:block;font-size:13px;color:#303030}" +
    "label{display:flex;flex-direction:column;gap:4px}" +
    ".label{font-weight:450}" +
    ":host([labelaccessibilityvisibility=exclusive]) .label{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "input,select{font:inherit;font-size:13px;padding:6px 12px;border-radius:8px;border:1px solid #8a8a8a;background:#fdfdfd;min-height:20px;box-sizing:border-box;width:100%}" +
    "input:focus,select:focus{outline:2px solid #005bd3;outline-offset:1px}" +
    ":host([error]) input,:host([error]) select{border-color:#8e1f0b;background:#fee9e8}" +
    ".details{color:#616161;margin-top:4px}" +
    ".error{color:#8e1f0b;margin-top:4px;font-weight:550}";

  class Field extends HTMLElement {
    static get observedAttributes() { return ["label", "error", "details", "placeholder", "disabled"]; }
    constructor() { super(); this._value = null; }
    inputType() { return "text"; }
    connectedCallback() {
      if (!this.shadowRoot) {
        var root = shadow(this, FIELD_CSS,
          "<label><span class='label'></span><input part='input'></label><div class='details' hidden></div><div class='error' role='alert' hidden></div>");
        var input = root.querySelector("input");
        input.type = this.inputType();
        input.value = this._value !== null ? this._value : (this.getAttribute("value") || "");
        var self = this;
        input.addEventListener("change", function () { self.dispatchEvent(new Event("change", { bubbles: true })); });
      }
      this.sync();
    }
    attributeChangedCallback() { this.sync(); }
    sync() {
      var root = this.shadowRoot;
      if (!root) return;
      root.querySelector(".label").textContent = this.getAttribute("label") || "";
      var input = root.querySelector("input");
      input.placeholder = this.getAttribute("placeholder") || "";
      input.disabled = this.hasAttribute("disabled");
      ["min", "max", "step", "maxlength"].forEach(function (a) {
        var v = this.getAttribute(a);
        if (v !== null) input.setAttribute(a, v);
      }, this);
      var details = root.querySelector(".details");
      details.textContent = this.getAttribute("details") || "";
      details.hidden = !this.getAttribute("details");
      var error = root.querySelector(".error");
      error.textContent = this.getAttribute("error") || "";
      error.hidden = !this.getAttribute("error");
      input.setAttribute("aria-invalid", this.getAttribute("error") ? "true" : "false");
    }
    get value() {
      var input = this.shadowRoot && this.shadowRoot.querySelector("input");
      return input ? input.value : (this._value !== null ? this._value : (this.getAttribute("value") || ""));
    }
    set value(v) {
      this._value = v === null || v === undefined ? "" : String(v);
      var input = this.shadowRoot && this.shadowRoot.querySelector("input");
      if (input) input.value = this._value;
    }
    get error() { return this.getAttribute("error"); }
    set error(v) { if (v) this.setAttribute("error", v); else this.removeAttribute("error"); }
    focus() { var i = this.shadowRoot && this.shadowRoot.querySelector("input"); if (i) i.focus(); }
  }
  define("s-text-field", class extends Field {});
  define("s-number-field", class extends Field { inputType() { return "number"; } });
  define("s-search-field", class extends Field { inputType() { return "search"; } });

  define("s-select", class extends HTMLElement {
    static get observedAttributes() { return ["label", "error", "details"]; }
    constructor() { super(); this._value = null; }
    connectedCallback() {
      if (!this.shadowRoot) {
        var root = shadow(this, FIELD_CSS,
          "<label><span class='label'></span><select part='select'></select></label><div class='details' hidden></div><div class='error' role='alert' hidden></div>");
        var select = root.querySelector("select");
        Array.prototype.forEach.call(this.querySelectorAll("s-option"), function (o) {
          var option = document.createElement("option");
          option.value = o.getAttribute("value") || "";
          option.textContent = o.textContent;
          select.append(option);
        });
        var wanted = this._value !== null ? this._value : this.getAttribute("value");
        if (wanted !== null) select.value = wanted;
        var self = this;
        select.addEventListener("change", function () { self.dispatchEvent(new Event("change", { bubbles: true })); });
        select.addEventListener("input", function () { self.dispatchEvent(new Event("input", { bubbles: true })); });
      }
      this.sync();
    }
    attributeChangedCallback() { this.sync(); }
    sync() {
      var root = this.shadowRoot;
      if (!root) return;
      root.querySelector(".label").textContent = this.getAttribute("label") || "";
      var details = root.querySelector(".details");
      details.textContent = this.getAttribute("details") || "";
      details.hidden = !this.getAttribute("details");
      var error = root.querySelector(".error");
      error.textContent = this.getAttribute("error") || "";
      error.hidden = !this.getAttribute("error");
    }
    get value() {
      var select = this.shadowRoot && this.shadowRoot.querySelector("select");
      return select ? select.value : (this._value !== null ? this._value : (this.getAttribute("value") || ""));
    }
    set value(v) {
      this._value = String(v);
      var select = this.shadowRoot && this.shadowRoot.querySelector("select");
      if (select) select.value = this._value;
    }
  });
  define("s-option", class extends HTMLElement {
    connectedCallback() { this.hidden = true; }
  });

  define("s-checkbox", class extends HTMLElement {
    static get observedAttributes() { return ["label", "error", "disabled"]; }
    constructor() { super(); this._checked = null; }
    connectedCallback() {
      if (!this.shadowRoot) {
        var root = shadow(this,
          ":host{display:block;font-size:13px;color:#303030}" +
          "label{display:flex;align-items:center;gap:8px;cursor:pointer}" +
          "input{width:16px;height:16px;margin:0;accent-color:#303030}" +
          ".error{color:#8e1f0b;margin-top:4px;font-weight:550}",
          "<label><input type='checkbox' part='input'><span class='label'></span></label><div class='error' role='alert' hidden></div>");
        var input = root.querySelector("input");
        input.checked = this._checked !== null ? this._checked : this.hasAttribute("checked");
        var self = this;
        input.addEventListener("change", function () { self.dispatchEvent(new Event("change", { bubbles: true })); });
      }
      this.sync();
    }
    attributeChangedCallback() { this.sync(); }
    sync() {
      var root = this.shadowRoot;
      if (!root) return;
      root.querySelector(".label").textContent = this.getAttribute("label") || "";
      root.querySelector("input").disabled = this.hasAttribute("disabled");
      var error = root.querySelector(".error");
      error.textContent = this.getAttribute("error") || "";
      error.hidden = !this.getAttribute("error");
    }
    get checked() {
      var input = this.shadowRoot && this.shadowRoot.querySelector("input");
      return input ? input.checked : (this._checked !== null ? this._checked : this.hasAttribute("checked"));
    }
    set checked(v) {
      this._checked = Boolean(v);
      var input = this.shadowRoot && this.shadowRoot.querySelector("input");
      if (input) input.checked = this._checked;
    }
  });

  define("s-link", class extends HTMLElement {
    connectedCallback() {
      if (!this.hasAttribute("role")) this.setAttribute("role", "link");
      if (!this.hasAttribute("tabindex")) this.tabIndex = 0;
      this.addEventListener("keydown", function (e) { if (e.key === "Enter") this.click(); });
    }
  });

  document.documentElement.setAttribute("data-polaris-stand-in", "");
})();
