import { IncomingMessage, ServerResponse } from 'node:http';

/** What an Express app exposes of its request and response prototypes. */
export interface RequestPrototypes {
  request: object;
  response: object;
}

/**
 * Request and response classes (for `http.createServer(options, app)`) whose objects are born with the
 * app's Express prototypes (`app.request`, `app.response`). Express sets those prototypes on every
 * request it handles; changing an object's prototype after it was made costs V8 its fast paths for
 * that object across Node's http code (about 60 µs per request on the development VM), while setting
 * the prototype it already has is free. Node's own classes where they cannot be called this way (ES classes).
 */
export function requestClasses(app: RequestPrototypes): { IncomingMessage: typeof IncomingMessage; ServerResponse: typeof ServerResponse } {
  const isClass = (f: unknown) => Function.prototype.toString.call(f).startsWith('class');
  if (isClass(IncomingMessage) || isClass(ServerResponse)) return { IncomingMessage, ServerResponse };
  function AppRequest(this: IncomingMessage, ...args: unknown[]): void {
    Reflect.apply(IncomingMessage, this, args);
  }
  AppRequest.prototype = app.request;
  function AppResponse(this: ServerResponse, ...args: unknown[]): void {
    Reflect.apply(ServerResponse, this, args);
  }
  AppResponse.prototype = app.response;
  return {
    IncomingMessage: AppRequest as unknown as typeof IncomingMessage,
    ServerResponse: AppResponse as unknown as typeof ServerResponse,
  };
}
