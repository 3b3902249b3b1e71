// The widget's editor: CodeMirror 6 with line numbers, history and indentation (Tab indents; Escape then Tab leaves
// the editor, so it never traps the keyboard). No syntax highlighting: a language's grammar costs 20 to 35 kB
// compressed, and the whole embed has 100 kB (BENCHMARKS.md).
import { history, historyKeymap, indentWithTab, standardKeymap } from "@codemirror/commands";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers } from "@codemirror/view";

export interface Editor {
  text(): string;
  setText(text: string): void;
}

export function createEditor(parent: HTMLElement, root: ShadowRoot, text: string, label: string): Editor {
  const view = new EditorView({
    parent,
    root,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        history(),
        keymap.of([...standardKeymap, ...historyKeymap, indentWithTab]),
        EditorState.tabSize.of(4),
        EditorView.contentAttributes.of({ "aria-label": label }),
        EditorView.lineWrapping,
      ],
    }),
  });
  return {
    text: () => view.state.doc.toString(),
    setText: (next) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: next } }),
  };
}
