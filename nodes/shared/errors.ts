/**
 * Errors a node finds while it starts (a bad setting, a target it cannot open) in a form Catch nodes receive.
 * Node-RED hands only errors that carry a msg to Catch nodes, and collects the Catch nodes of a flow after
 * every node of it was constructed: an error raised in a constructor, or before the flows have started,
 * reaches none of them, so a dashboard's error list never shows it. These wait for 'flows:started'.
 */
import type { EventEmitter } from 'events';
import type { Node, NodeAPI, NodeMessage } from 'node-red';

export interface StartErrorReporter {
  /** Logs `text` as the node's error with a msg ({topic: 'config', payload: {error}}), once the flows run. */
  report(text: string): void;
}

/** Nodes waiting for the next 'flows:started'; one runtime listener for all (not one per node). */
const waiting = new Set<() => void>();
const listening = new WeakSet<EventEmitter>();

export function startErrorReporter(RED: NodeAPI, node: Node): StartErrorReporter {
  let started = false;
  const queued: string[] = [];
  const send = (text: string) => node.error(text, { topic: 'config', payload: { error: text } } as NodeMessage);
  const onStarted = () => {
    started = true;
    for (const t of queued.splice(0)) send(t);
  };
  if (!listening.has(RED.events)) {
    listening.add(RED.events);
    RED.events.on('flows:started', () => {
      const all = [...waiting];
      waiting.clear();
      for (const f of all) f();
    });
  }
  waiting.add(onStarted);
  node.on('close', () => {
    waiting.delete(onStarted);
    // Closed before the flows started (a failed deploy): still say it, in the log at least.
    for (const t of queued.splice(0)) node.error(t);
  });
  return {
    report(text: string) {
      if (started) send(text);
      else queued.push(text);
    },
  };
}
