// The parts of CodeMirror 6 kubelab's editor uses, bundled into one ES
// module (the browser cannot resolve bare package names without an import
// map, and the CSP allows no inline script to declare one).
export { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection, highlightSpecialChars } from "@codemirror/view";
export { EditorState, Compartment } from "@codemirror/state";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export { indentOnInput, syntaxHighlighting, defaultHighlightStyle, HighlightStyle, bracketMatching, indentUnit } from "@codemirror/language";
export { yaml } from "@codemirror/lang-yaml";
export { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
export { classHighlighter } from "@lezer/highlight";
