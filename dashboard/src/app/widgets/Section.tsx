import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

/** A region with a heading that names it (`<section aria-labelledby>`). */
export function Section(props: {
  id: string;
  title: string;
  class?: string;
  actions?: ComponentChildren;
  /** Move focus to the heading when shown (a panel the user just opened). */
  focusOnOpen?: boolean;
  children: ComponentChildren;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (props.focusOnOpen && heading.current) {
      heading.current.focus({ preventScroll: true });
      heading.current.scrollIntoView({ block: "start", behavior: "smooth" });
    }
  }, []);
  return (
    <section aria-labelledby={`${props.id}-h`} class={`card ${props.class ?? ""}`} id={props.id}>
      <div class="card-head">
        <h2 id={`${props.id}-h`} ref={heading} tabIndex={props.focusOnOpen ? -1 : undefined}>
          {props.title}
        </h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}
