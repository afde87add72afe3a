/**
 * Presenting the notebooks as slides with jupyterlab-slideshow, as a teacher drives the deck (README, "Presenting
 * as slides"). Plain JavaScript, no import: everything goes through the application's commands and the DOM.
 *
 * - Keys: the arrow keys and Page Up/Down step through every fragment, sub-slide and slide in order, as Space and
 *   Shift+Space do (the shortcuts are in schema/plugin.json, so they show in Settings → Keyboard Shortcuts).
 * - Widgets: a control clicked, dragged or picked with the mouse gives the keys back to the deck (the next slide
 *   key moves the deck, it does not nudge the slider); a control reached with Tab keeps the arrow keys, Space and
 *   Enter, in the deck and in the notebook, and Escape returns to the slide. In the deck, Tab and Shift+Tab step
 *   through the controls on the slide (not into the code editor) and back to the slide after the last one.
 * - Start: a deck started on the notebook's last cell (where Run All leaves the cursor) opens on the title slide.
 * - Size: each slide is zoomed to the largest size up to MAX_ZOOM at which it still fits the window, down to MIN_ZOOM
 *   for a slide a little too tall (see fit()).
 */

const NEXT = 'clipping-presenting:next';
const PREVIOUS = 'clipping-presenting:previous';
const KEEP = 'clipping-presenting:keep-slide';

/** JupyterLab's text is 14 px: 18/14 makes it 18 px on every slide that has room. */
const MAX_ZOOM = 18 / 14;
/** A slide a little too tall at the notebook's size is shown down to 0.9 (12.6 px text) rather than cut. */
const MIN_ZOOM = 0.9;
const ZOOM_VARIABLE = '--clipping-presenting-zoom';

/** What can hold the keyboard focus in a widget's output. */
const FOCUSABLE = ['select', 'input', 'textarea', 'button', '.noUi-handle'];
/** Keys a focused control uses for itself (a dropdown's arrows, Space and Enter; a slider's arrows, Home, End). */
const CONTROL_KEYS = new Set([
  'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End', ' ', 'Enter',
]);

const presenting = () => document.body.dataset.jpDeckMode === 'presenting';

/** The notebook panel on screen, or null. */
function notebookPanel(app) {
  const widget = app.shell.currentWidget;
  return widget && widget.content && Array.isArray(widget.content.widgets) ? widget : null;
}

/** The focusable part of an ipywidgets control in a cell's output that holds `element`, or null. */
function widgetControl(element) {
  if (!(element instanceof Element) || !element.closest('.jp-Notebook .jp-OutputArea-output')) {
    return null;
  }
  return FOCUSABLE.some(selector => element.matches(selector)) ? element : null;
}

/** The deck command a key stands for (null when it is not a slide key). */
function slideCommand(event) {
  if (event.ctrlKey || event.altKey || event.metaKey) {
    return null;
  }
  switch (event.key) {
    case 'ArrowRight':
    case 'ArrowDown':
    case 'PageDown':
      return NEXT;
    case 'ArrowLeft':
    case 'ArrowUp':
    case 'PageUp':
      return PREVIOUS;
    case ' ':
      return event.shiftKey ? PREVIOUS : NEXT;
    default:
      return null;
  }
}

/** Enabled, visible controls in the outputs of the cells on the current slide, in document order. */
function slideControls(panel) {
  const onSlide = '.jp-deck-mod-onscreen.jp-deck-mod-visible .jp-OutputArea-output';
  const selector = FOCUSABLE.map(part => `${onSlide} ${part}`).join(', ');
  return [...panel.content.node.querySelectorAll(selector)].filter(
    node =>
      !node.disabled &&
      !node.closest('[disabled]') &&
      node.getAttribute('tabindex') !== '-1' &&
      node.getClientRects().length > 0,
  );
}

/** Give the keyboard back to the slide: focus the active cell, in command mode. */
function focusSlide(panel) {
  const cell = panel && panel.content.activeCell;
  if (cell) {
    cell.node.focus({ preventScroll: true });
  }
}

/**
 * Zoom the slide (the notebook's viewport, through a CSS variable the stylesheet reads only while presenting) to the
 * largest factor in [MIN_ZOOM, MAX_ZOOM] at which it fits: no taller than the window, nothing scrolling sideways.
 * `grow` false only shrinks (a figure redrawn on the same slide never makes the text jump larger).
 */
function fit(panel, grow) {
  const notebook = panel.content.node;
  const root = document.body.style;
  const current = parseFloat(root.getPropertyValue(ZOOM_VARIABLE)) || 1;
  const fits = zoom => {
    root.setProperty(ZOOM_VARIABLE, String(zoom));
    for (const node of [notebook, ...notebook.querySelectorAll('.jp-WindowedPanel-outer')]) {
      if (node.scrollHeight > node.clientHeight + 1 || node.scrollWidth > node.clientWidth + 1) {
        return false;
      }
    }
    for (const cell of notebook.querySelectorAll('.jp-Cell.jp-deck-mod-onscreen')) {
      const box = cell.getBoundingClientRect();
      if (box.top < -1 || box.bottom > window.innerHeight + 1 || box.right > window.innerWidth + 1) {
        return false;
      }
      for (const node of cell.querySelectorAll('.jp-OutputArea-output, pre')) {
        if (node.scrollWidth > node.clientWidth + 2) {
          return false;
        }
      }
    }
    return true;
  };
  let high = grow ? MAX_ZOOM : current;
  if (fits(high)) {
    return;
  }
  let low = MIN_ZOOM;
  if (!fits(low)) {
    root.setProperty(ZOOM_VARIABLE, '1'); // too tall even so: the notebook's own size (tests/test_browser.py reports it)
    return;
  }
  for (let step = 0; step < 6; step++) {
    const middle = (low + high) / 2;
    if (fits(middle)) {
      low = middle;
    } else {
      high = middle;
    }
  }
  root.setProperty(ZOOM_VARIABLE, String(Math.floor(low * 100) / 100));
}

const plugin = {
  id: 'clipping-presenting:plugin',
  description: 'Keys, first slide and text size of the slide decks of the clipping notebooks.',
  autoStart: true,
  activate: app => {
    const { commands } = app;
    commands.addCommand(NEXT, {
      label: 'Deck: next fragment, sub-slide or slide',
      execute: () => commands.execute('deck:go', { direction: 'down', alternate: 'forward' }),
    });
    commands.addCommand(PREVIOUS, {
      label: 'Deck: previous fragment, sub-slide or slide',
      execute: () => commands.execute('deck:go', { direction: 'up', alternate: 'back' }),
    });
    commands.addCommand(KEEP, {
      label: 'Deck: keep the slide (Enter does not open its text for editing)',
      execute: () => undefined,
    });

    // How each control got the focus: with the pointer (a click, a drag, a pick) or from the keyboard (Tab).
    let lastInput = 'key';
    const byPointer = new WeakSet();
    window.addEventListener('pointerdown', () => (lastInput = 'pointer'), true);
    window.addEventListener(
      'focusin',
      event => {
        const control = widgetControl(event.target);
        if (control && lastInput === 'pointer') {
          byPointer.add(control);
        } else if (control) {
          byPointer.delete(control);
        }
      },
      true,
    );

    // Capture phase, before the control and before JupyterLab's shortcuts see the key.
    window.addEventListener(
      'keydown',
      event => {
        lastInput = 'key';
        if (!presenting()) {
          return;
        }
        const panel = notebookPanel(app);
        if (!panel) {
          return;
        }
        const control = widgetControl(document.activeElement);
        if (event.key === 'Tab' && !event.ctrlKey && !event.altKey && !event.metaKey) {
          const controls = slideControls(panel);
          if (!controls.length || !(control || document.activeElement === panel.content.activeCell?.node)) {
            return;
          }
          event.preventDefault();
          event.stopPropagation();
          const index = controls.indexOf(control) + (control ? (event.shiftKey ? -1 : 1) : 0);
          const next = control ? index : event.shiftKey ? controls.length - 1 : 0;
          if (next < 0 || next >= controls.length) {
            focusSlide(panel);
          } else {
            controls[next].focus();
          }
          return;
        }
        if (!control) {
          return;
        }
        if (event.key === 'Escape') {
          event.preventDefault();
          event.stopPropagation();
          focusSlide(panel);
          return;
        }
        if (!byPointer.has(control)) {
          return; // reached with Tab: the control keeps its keys (see the bubbling listener below)
        }
        const command = slideCommand(event);
        if (command || event.key === 'Enter') {
          event.preventDefault();
          event.stopPropagation();
          focusSlide(panel);
          if (command) {
            void commands.execute(command);
          }
        }
      },
      true,
    );

    // Bubbling phase, below the document where JupyterLab reads its shortcuts: a control that keeps its keys does
    // not also move the deck or the notebook's cursor (its own handling and the browser's default still happen).
    document.documentElement.addEventListener('keydown', event => {
      const control = widgetControl(event.target);
      if (control && CONTROL_KEYS.has(event.key) && !(presenting() && byPointer.has(control))) {
        event.stopPropagation();
      }
    });

    // Start on the title slide when the deck starts on the last cell, and fit each slide to the window.
    let slide = '';
    const observeSlides = new MutationObserver(records => {
      if (!presenting() || !records.some(record => record.target.classList?.contains('jp-Cell'))) {
        return;
      }
      const panel = notebookPanel(app);
      if (!panel) {
        return;
      }
      const onscreen = panel.content.widgets
        .map((cell, index) => (cell.node.classList.contains('jp-deck-mod-onscreen') ? index : -1))
        .filter(index => index >= 0)
        .join(',');
      if (onscreen !== slide) {
        slide = onscreen;
        requestAnimationFrame(() => fit(panel, true));
      }
    });
    const observeSizes = new ResizeObserver(() => {
      const panel = notebookPanel(app);
      if (presenting() && panel) {
        requestAnimationFrame(() => fit(panel, false));
      }
    });
    new MutationObserver(() => {
      const panel = notebookPanel(app);
      observeSlides.disconnect();
      observeSizes.disconnect();
      slide = '';
      if (!presenting() || !panel) {
        document.body.style.removeProperty(ZOOM_VARIABLE);
        return;
      }
      const notebook = panel.content;
      if (notebook.widgets.length > 1 && notebook.activeCellIndex === notebook.widgets.length - 1) {
        notebook.activeCellIndex = 0;
      }
      observeSlides.observe(notebook.node, { attributes: true, attributeFilter: ['class'], subtree: true });
      observeSizes.observe(notebook.viewportNode || notebook.node);
      requestAnimationFrame(() => fit(panel, true));
    }).observe(document.body, { attributes: true, attributeFilter: ['data-jp-deck-mode'] });
  },
};

export default plugin;
