import type { ComponentChildren } from "preact";

/** A region with a heading that names it (`<section aria-labelledby>`). */
export function Section(props: { id: string; title: string; class?: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section aria-labelledby={`${props.id}-h`} class={`card ${props.class ?? ""}`} id={props.id}>
      <div class="card-head">
        <h2 id={`${props.id}-h`}>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}
