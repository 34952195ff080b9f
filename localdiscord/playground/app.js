// The imagine-bot playground: a small Discord client for the local Discord's control API.
//
// State arrives from GET /_control/events (server-sent events): a "hello" snapshot, then every message
// create/update/delete, ephemeral ones included. Actions go through the control API as the member the
// visitor picked. Every piece of text that came from a member or the bot is put in the page with
// textContent / createTextNode, never as HTML.
//
// This is the entry module (index.html loads it with <script type="module">); each module beside it has
// one job:
//   state.js     the store: the world, the messages per channel, which ones the visitor may see
//   api.js       the control API client
//   dom.js       the page's fixed elements, element factories, icons, avatars
//   commands.js  the bot's slash commands as entries, and the permissions a member lacks
//   markdown.js  Discord markdown as plain tokens, pure (no DOM), unit-tested
//   richtext.js  tokens as the page's own elements: mentions, links, timestamps, spoilers
//   messages.js  a message drawn as an <article>; the open channel's list, kept at the newest message
//                (a "jump to present" bar when scrolled up); images, lazily, and their lightbox
//   channels.js  the channel list and moving between channels
//   identity.js  who the visitor is: the picker and the member list
//   composer.js  the command picker, option fields and autocomplete
//   actions.js   running commands, pressing buttons, modals; notices when the bot does not answer
//   feed.js      the live event stream feeding the store and the views
// The modules call each other's functions (a message's button runs an action whose notice is drawn as
// a message), so none does anything when it loads: listeners are attached here, once, in order.

import { initModal } from "./actions.js";
import { initComposer } from "./composer.js";
import { connect } from "./feed.js";
import { initIdentity } from "./identity.js";
import { initMessages } from "./messages.js";

initMessages();
initModal();
initComposer();
initIdentity();
connect();
