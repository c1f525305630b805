// Answers with the event it was given: the same work the floor server does.
export default async (event) => event;
